"""llmd_stack: the typed configuration, composition and offline render/check of the llm-d homelab stack."""
