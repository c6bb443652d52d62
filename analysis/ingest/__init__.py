"""Import de-identified clinic data: read → screen identifiers → validate → one transaction.

The import contract (every column, type, range and vocabulary) is one table,
:mod:`analysis.domain.contract`, rendered in ``docs/contract.md``; the rules decided for the
importer are in ``docs/import.md``. The modules of this package, in the order data flows:

- :mod:`~analysis.ingest.importer`: the entry points (frames, paths, uploads);
- :mod:`~analysis.ingest.readers`: CSV files and workbooks into header and cells;
- :mod:`~analysis.ingest.identifiers`: the identifier screen of names and cells;
- :mod:`~analysis.ingest.cells` and :mod:`~analysis.ingest.validate`: parsing and checking
  every field against the contract;
- :mod:`~analysis.ingest.writer`: the stored rows compared and upserted;
- :mod:`~analysis.ingest.transaction`: one transaction, locks, retries and the import log;
- :mod:`~analysis.ingest.report`: what the user is told.

Every user-facing failure is a :class:`Problem` in the returned :class:`ImportReport`;
nothing is raised for bad input. A database that cannot be used raises
:class:`analysis.domain.errors.DatabaseError`.
"""

from analysis.domain.contract import TABLES
from analysis.ingest.identifiers import identifier_reason, identifying_kind
from analysis.ingest.importer import import_frames, import_paths, import_uploads
from analysis.ingest.limits import MAX_UPLOAD_BYTES
from analysis.ingest.report import ImportReport, Problem

__all__ = [
    "MAX_UPLOAD_BYTES",
    "TABLES",
    "ImportReport",
    "Problem",
    "identifier_reason",
    "identifying_kind",
    "import_frames",
    "import_paths",
    "import_uploads",
]
