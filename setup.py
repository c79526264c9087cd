"""Build step: compile the gettext catalogues (.po -> .mo) into the wheel, so an installed portal reads
them without Babel's .po parser or a writable site-packages. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path("portal", "core", "locale")


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
            target = Path(self.build_lib, po.with_suffix(".mo"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalogue = read_po(source)
            with target.open("wb") as out:
                write_mo(out, catalogue)


setup(cmdclass={"build_py": BuildWithCatalogues})
