"""docs/errors.md explains every exception of `telnyx_oauth.errors` and what to do."""

from __future__ import annotations

import inspect
import re

from telnyx_oauth import errors
from tests.docs.markdown import page_text, section

PAGE = page_text("errors.md")


def exception_classes() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def test_errors_page_has_a_section_for_every_exception_and_no_other() -> None:
    documented = set(re.findall(r"^## `(\w+)`\s*$", PAGE, re.M))
    assert exception_classes()  # the module still defines them
    assert documented == exception_classes()


def test_errors_page_says_what_each_exception_means_and_what_to_do() -> None:
    for name in exception_classes():
        text = section(PAGE, f"`{name}`")
        assert "**Means:**" in text, name
        assert "**Do:**" in text, name


def test_errors_page_tree_names_every_exception() -> None:
    tree = PAGE.split("```", 2)[1]
    assert set(re.findall(r"\b([A-Z]\w+(?:Error))\b", tree)) == exception_classes()
