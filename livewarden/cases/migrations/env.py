"""Alembic's environment for the case database.

Run only by `livewarden.cases.migrate`, which hands over an open connection already inside the transaction
that holds the database's write lock (no alembic.ini, no URL here): the migrations join that transaction.
"""

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
