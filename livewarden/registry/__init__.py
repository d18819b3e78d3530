"""The registry: brands and their marks, sellers and their authorizations, rooms."""

from livewarden.registry.located import Problem, RegistryError
from livewarden.registry.loader import load_registry
from livewarden.registry.schema import Brand, Listing, Person, Product, Registry, Room, Seller

__all__ = ["Brand", "Listing", "Person", "Problem", "Product", "Registry", "RegistryError", "Room", "Seller", "load_registry"]
