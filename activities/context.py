"""What every activity needs: settings and the database engine, built once per worker."""

from dataclasses import dataclass

from sqlalchemy import Engine

from domain.settings import Settings
from store.db import engine_for


@dataclass
class ActivityContext:
    settings: Settings
    engine: Engine

    @classmethod
    def from_settings(cls, settings: Settings) -> "ActivityContext":
        return cls(settings=settings, engine=engine_for(settings.resolved_database_url))
