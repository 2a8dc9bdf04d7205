"""Dagster's Postgres storages, with the connections of a process pooled.

dagster-postgres opens a new connection for every query (SQLAlchemy's NullPool): in a 2-worker run of
the corpus that was 3,815 connections for 8,799 transactions, and Postgres spent more CPU starting
backends than the cluster's Celery workers did on everything else. These subclasses share one small
pool per process and database URL among every instance the process makes (a Celery worker builds
one from the run's instance ref for each step), so a worker or coordinator keeps a couple of
connections open instead. The cluster's dagster.yaml names them per storage (`run_storage`,
`event_log_storage`, `schedule_storage`), so the instance refs sent to workers name them too.
"""

from __future__ import annotations

import os
import threading

import sqlalchemy
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

POOL_SIZE = 2  # connections kept open per process; more are opened (and closed after use) when threads need them
MAX_OVERFLOW = 8

_engines: dict[str, sqlalchemy.engine.Engine] = {}
_lock = threading.Lock()


def shared_engine(url: str, token_provider=None) -> sqlalchemy.engine.Engine:
    """This process's pooled engine for `url`. Connections are not pinged on checkout (a round trip per
    query, 10% of a worker's CPU): when the server has restarted, the first query fails (and its step with
    it, to be run again by the next batch), SQLAlchemy drops the whole pool, and the next ones connect afresh."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_pg_engine(url, token_provider, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE,
                                                      max_overflow=MAX_OVERFLOW)
        return engine


def _forget_parents_connections() -> None:
    """A forked child must not use its parent's sockets: each engine drops them (without closing them
    under the parent) and opens its own."""
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parents_connections)


class _Pooled:
    """Mixed into a dagster-postgres storage: after its own set-up (which checks the tables on a
    connection of its own), it runs on the process's shared engine."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        self._engine = shared_engine(postgres_url, token_provider)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data, token_provider=get_token_provider_from_config(config_value))


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_Pooled, PostgresScheduleStorage):
    pass


def instance_config(postgres_db: dict) -> dict:
    """dagster.yaml's three storage sections for a Postgres database (`postgres_db` as in the `storage:
    postgres:` section), each on the pooled storage."""
    section = {"module": __name__, "config": {"postgres_db": postgres_db}}
    return {key: {**section, "class": cls.__name__} for key, cls in [
        ("run_storage", PooledPostgresRunStorage), ("event_log_storage", PooledPostgresEventLogStorage),
        ("schedule_storage", PooledPostgresScheduleStorage)]}
