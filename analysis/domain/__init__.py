"""The domain: definitions and settings, vocabularies, the import contract, roles, errors.

Imports nothing from the rest of ``analysis``; every other layer may import it.
"""
