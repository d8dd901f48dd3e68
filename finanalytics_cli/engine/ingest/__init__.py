"""Import bank exports: detect, parse, validate, normalize, dedupe, store.

One file is one database transaction: all of it lands, or (on any error, or with
``dry_run``) none of it.
"""

from finanalytics_cli.engine.ingest.importer import (
    FileImport,
    ImportOptions,
    Source,
    import_sources,
    list_imports,
    sources_from_paths,
    undo_import,
)

__all__ = [
    "FileImport",
    "ImportOptions",
    "Source",
    "import_sources",
    "list_imports",
    "sources_from_paths",
    "undo_import",
]
