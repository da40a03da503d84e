"""What every table module of the schema shares: one MetaData and the common column types.

Its own module so that meta/schema.py can re-export the tables of meta/schema_access.py and
meta/schema_supply_chain.py while those define their tables on the same MetaData, without
importing each other. Import tables from meta/schema.py: only there are all of them loaded,
which foreign keys between the modules (by table name) and Alembic need.
"""

from __future__ import annotations

from sqlalchemy import MetaData, String

metadata = MetaData()

NAME = String(255)
DIGEST = String(150)
