"""List jobs on a fleet of workers: Dramatiq over Redis, results in the service's store.

``probe submit`` stores a list and sends its first-stage messages; ``probe worker``
processes run them (:mod:`prober.workers.fleet`); ``probe job`` reads a job back.
"""
