"""Registries: the Distribution (registry v2 / OCI distribution) API.

Sans-I/O cores (``auth``, ``manifest``, ``progress``, ``errcode``) are pure
functions and small state machines tested with bytes and dicts; ``client``
speaks them over aiohttp's client; ``pull``/``push`` drive a transfer with the
layer store and write Docker's progress JSON.
"""
