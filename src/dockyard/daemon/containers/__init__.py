"""The container service and its parts.

``service`` holds :class:`ContainerService` (the records and their
lifecycle); ``config`` validates and normalizes a create request;
``model`` is the record and its Docker shapes; ``start`` turns a record into
a bundle and a running container; ``ops`` holds the operations on a running
one (stop, kill, pause, resize, …); ``view`` answers list and inspect;
``waits`` holds ``wait`` and attachers waiting for a start; ``removal``
removes, renames and prunes; ``startup`` reconciles at daemon start.
"""
