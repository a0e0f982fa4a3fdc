"""Configuration: the settings table, ``app.conf``, config loading and URL redaction.

``schema`` declares every option once (new name, Celery's default, old names, secret flag);
``settings.Settings`` is the mapping users see as ``app.conf``; ``loading`` reads config
objects and modules; ``urls`` parses URLs and keeps passwords out of logs.
"""

from __future__ import annotations

from celeriac.config.loading import import_config_object, load_object_settings
from celeriac.config.schema import OLD_TO_NEW, OPTIONS, Option
from celeriac.config.settings import CeleriacWarning, Settings
from celeriac.config.urls import ParsedURL, parse_url, redact_url

__all__ = [
    "OLD_TO_NEW",
    "OPTIONS",
    "CeleriacWarning",
    "Option",
    "ParsedURL",
    "Settings",
    "import_config_object",
    "load_object_settings",
    "parse_url",
    "redact_url",
]
