"""The projector service: read models of the log in PostgreSQL (SQLite embedded), always
droppable and rebuildable from the log."""
