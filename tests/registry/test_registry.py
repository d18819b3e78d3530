"""The registry loader: valid files load; every problem is named with file, line and field."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from livewarden.cli import app
from livewarden.registry import RegistryError, load_registry

BAD = """\
brands:
  - id: nova
    name: Nova
    marks: [marks/nova.png, marks/missing.png, marks/broken.png]
  - id: nova
    name: Duplicate
    marks: [marks/nova.png]
sellers:
  - id: shop
    name: Shop
    authorized_brands: [nova, ghost]
rooms:
  - id: room1
    seller: nobody
    source: rtmp://example.invalid/live/room1
"""


def test_valid_registry_loads_and_resolves_paths(two_brand_registry: Path):
    reg = load_registry(two_brand_registry)
    assert [b.id for b in reg.brands] == ["nova", "koru"]
    assert reg.brands[0].marks[0] == two_brand_registry.parent / "marks" / "nova.png"
    assert reg.room("deals").source == str(two_brand_registry.parent / "deals.mp4")
    assert reg.is_authorized("official", "nova")
    assert not reg.is_authorized("deals", "nova")
    assert not reg.is_authorized("no-such-room", "nova")


def test_every_cross_reference_problem_is_reported_with_its_line(two_brand_registry: Path):
    path = two_brand_registry.parent / "bad.yaml"
    path.write_text(BAD)
    (two_brand_registry.parent / "marks" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 5, messages
    text = "\n".join(messages)
    assert f"{path}:5: brands[1].id: duplicate id 'nova'" in text
    assert f"{path}:11: sellers[0].authorized_brands[1]: unknown brand 'ghost'" in text
    assert f"{path}:14: rooms[0].seller: unknown seller 'nobody'" in text
    assert f"{path}:4: brands[0].marks[1]: mark image not found" in text
    assert f"{path}:4: brands[0].marks[2]: mark image cannot be read" in text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("brands:\n  - id: a\n    name: A\n    marks: [x.png]\n    colour: red\n", ":5: brands[0].colour: Extra inputs"),
        ("brands:\n  - id: a\n    marks: [x.png]\n", ":2: brands[0].name: Field required"),
        ("sellers:\n  - id: 'bad id!'\n    name: S\n", ":2: sellers[0].id: String should match pattern"),
        ("brands: [\n  - id: a\n", ":2: invalid YAML"),
        ("- just\n- a list\n", ":1: the registry must be a mapping"),
        ("brands:\n  - id: a\n    name: A\n    price_floor: 1.5\n", ":4: brands[0].price_floor: Input should be less"),
    ],
)
def test_field_and_syntax_errors_name_line_and_field(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(RegistryError, match="registry file not found"):
        load_registry(tmp_path / "nope.yaml")


def test_cli_registry_check(two_brand_registry: Path):
    runner = CliRunner()
    ok = runner.invoke(app, ["registry", "check", str(two_brand_registry)])
    assert ok.exit_code == 0, ok.output
    assert "2 brands (2 marks), 0 products (0 images), 2 sellers, 2 rooms (0 listings), 0 protected persons" in ok.output
    bad = two_brand_registry.parent / "bad.yaml"
    bad.write_text(BAD)
    result = runner.invoke(app, ["registry", "check", str(bad)])
    assert result.exit_code == 2
    assert "unknown seller 'nobody'" in result.output


def test_lookups_by_id_are_the_first_listed_and_follow_a_copy_with_other_entries():
    """The policy looks entries up by id for every signal (an index, not a scan); a copy of the registry with
    other rooms must not answer from the original's index, nor the original from the copy's."""
    from livewarden.registry.schema import Registry, Room, Seller

    original = Registry(sellers=[Seller(id="a", name="A"), Seller(id="a", name="A again")],
                        rooms=[Room(id="x", seller="a", source="x.mp4")])
    assert original.seller("a").name == "A" and original.room("x").id == "x" and original.room("y") is None
    copy = original.model_copy(update={"rooms": [Room(id="y", seller="a", source="y.mp4")]})
    assert copy.room("y").source == "y.mp4" and copy.room("x") is None
    assert original.room("x").source == "x.mp4" and original.room("y") is None
    assert copy.is_authorized("y", "nova") is False and copy.listed_products("y") == set()
