"""docs/decoders.md lists exactly the registered decoders, as the registry describes them."""

from pathlib import Path

from decoders import all_decoders
from decoders.catalogue import BEGIN, END, render, with_list

DOC = Path(__file__).resolve().parents[3] / "docs" / "decoders.md"


def test_the_decoder_list_in_the_docs_is_current() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert with_list(document) == document, (
        "docs/decoders.md is stale: run .venv/bin/python -m decoders docs/decoders.md"
    )


def test_the_generated_list_names_every_decoder_once() -> None:
    block = DOC.read_text(encoding="utf-8").split(BEGIN)[1].split(END)[0]
    summary = block.split("### Default field maps")[0]
    for decoder in all_decoders():
        assert summary.count(f"| `{decoder.id}` |") == 1, decoder.id
    assert block.strip() == render()
