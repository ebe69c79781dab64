"""Studies as batch jobs on a Ray cluster: submit, follow, stop (``initsearch cluster``).

A submitted study is an ordinary ``initsearch study start FILE --ray-address auto`` run by
Ray's job API on the cluster's head node; this package only packs the code and the study file
for the trip, checks that the stores the job writes to are reachable from every node, and talks
to the Ray dashboard's job endpoint (with Ray's token when the cluster requires one).
Everything a study does once it runs (resume, baselines once, a lost node's trials retried) is
the driver's, the same on a laptop and on a cluster. ``docs/cluster.md`` is the user guide.
"""
