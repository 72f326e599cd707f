"""Test configuration: the key-reuse checker is on for every test."""

import jax

jax.config.update("jax_debug_key_reuse", True)
