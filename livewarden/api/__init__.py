"""The HTTP API of `livewarden serve`: FastAPI routes over the platform (cases), one access table for all."""
