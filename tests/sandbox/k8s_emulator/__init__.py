"""A Kubernetes API server emulator used as a test double by the signalcraft.ops sandbox.

See README.md in this directory for the CLI, the control endpoints and what is (not) emulated.
"""
