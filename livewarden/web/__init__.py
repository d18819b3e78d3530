"""The web console: pages served by `livewarden serve` on the API's port, reading the same API with the same keys."""
