"""livewarden: real-time trust & safety monitor for livestream shopping."""

__version__ = "0.1.0"
