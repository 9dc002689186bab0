"""A container's filesystem from the outside: docker cp, diff and export.

Resolution inside the container root (``resolve``), tar streams out of it
(``tarwrite``) and into it (``extract``), the overlay upper dir read as a
change list (``changes``), and the view of a stopped container with its
volumes (``rootview``).
"""
