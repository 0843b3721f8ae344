"""Shared intermediate relations the table mappings read.

Several OMOP tables draw on the same derived relations:

* ``persons``: the person_keys that get a person row (see :mod:`.person`);
* ``routed``: every code-bearing source event translated and domain-routed
  (see :mod:`.events`);
* ``deaths``: one death per person (see :mod:`.death`);
* ``files``: the staged-file dictionary that numbers provenance (see
  :mod:`.provenance`);
* ``visits``: per visit table (opdte, ipdte, druge) its staged rows with the
  unique ``visit_uid`` and the provenance id ``_src`` (see
  :func:`.events.unique_visits_sql`); the name is a prefix completed with the
  file type (``<visits>opdte``).

Each mapping function takes an optional :class:`Shared`; by default the
relations are inlined as sub-queries so every SELECT runs on its own against
staging + vocabulary.  :func:`mappings.omop_cdm_v54.build.build_omop`
materialises them once as temp tables and passes their names instead.
"""

from __future__ import annotations

from dataclasses import dataclass

#: staged visit tables with a materialisable unique-visit relation
VISIT_TABLES = ("opdte", "ipdte", "druge")


@dataclass(frozen=True)
class Shared:
    """Names (or None = inline SQL) of the shared relations."""

    persons: str | None = None
    routed: str | None = None
    deaths: str | None = None
    files: str | None = None
    visits: str | None = None  # name prefix: <visits><file type>

    def persons_rel(self) -> str:
        from .person import known_persons_sql

        return self.persons or f"({known_persons_sql()})"

    def routed_rel(self) -> str:
        from .events import routed_events_sql

        return self.routed or f"({routed_events_sql(self)})"

    def deaths_rel(self) -> str:
        from .death import deaths_sql

        return self.deaths or f"({deaths_sql(self)})"

    def files_rel(self) -> str:
        from .provenance import files_sql

        return self.files or f"({files_sql()})"

    def visits_rel(self, ft_key: str) -> str:
        from .events import unique_visits_sql

        if self.visits:  # materialised by the build (any site's visit tables)
            return f"{self.visits}{ft_key}"
        if ft_key not in VISIT_TABLES:
            raise KeyError(f"no inline unique-visit relation for {ft_key!r}; known: {VISIT_TABLES}")
        return f"({unique_visits_sql(ft_key, self)})"


INLINE = Shared()


def shared_or_inline(shared: Shared | None) -> Shared:
    """``shared`` or the all-inline default."""
    return shared if shared is not None else INLINE
