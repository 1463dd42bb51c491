"""The stack's ComponentResources: thin typed wrappers over charts and objects, wired by reference."""
