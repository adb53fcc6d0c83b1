"""The PostgreSQL/QHB supervisor: command builders, parsers, and the controller facade.

Pure modules (no I/O): flavour, lsn, commands, controldata, conninfo, settings, status, operation.
Modules that touch processes or files: process, files, query, datadir, executor and the handlers
used by controller.
"""
