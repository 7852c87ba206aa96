"""Generated from proto/ by schemas.codegen."""
