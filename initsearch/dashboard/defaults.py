"""Where ``initsearch dashboard`` serves by default, written once: the command's options, the
server supervisor and the MLflow links written at a study's end (before any UI runs) read it."""

HOST = "127.0.0.1"
OPTUNA_PORT = 8080
MLFLOW_PORT = 5000
MLFLOW_URL = f"http://{HOST}:{MLFLOW_PORT}"
