"""Django database backend for the embedded PostgreSQL: Django's own PostgreSQL backend, whose first
connection starts the embedded server (see the package docstring) and creates the database if needed.

Settings (clvsite/settings/base.py sets these when DATABASE_URL is unset):
    {"ENGINE": "clvsite.embedded_db", "NAME": "clv", "USER": "postgres", "DATA_DIR": "<checkout>/.pgdata"}
"""

from django.db.backends.postgresql import base, client

from . import ensure_database, ensure_server, psql_path


def _start(settings_dict) -> None:
    socket_dir = ensure_server(settings_dict["DATA_DIR"])
    settings_dict["HOST"] = str(socket_dir)
    settings_dict["PORT"] = ""
    if settings_dict["NAME"]:
        ensure_database(settings_dict["DATA_DIR"], socket_dir, settings_dict["NAME"], settings_dict["USER"])


class DatabaseClient(client.DatabaseClient):
    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict, parameters):
        _start(settings_dict)
        args, env = super().settings_to_cmd_args_env(settings_dict, parameters)
        args[0] = psql_path()
        return args, env


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self):
        _start(self.settings_dict)
        return super().get_connection_params()
