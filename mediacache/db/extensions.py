"""Extension objects, created unbound and attached in create_app()."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from ..patches.flask_jwt_extended import VerifyingOnceJWTManager


class Base(DeclarativeBase):
    """Declarative base for the typed models."""


db = SQLAlchemy(model_class=Base)
jwt = VerifyingOnceJWTManager()
# No default limits: each route that needs one declares it, so polling clients are
# never throttled by accident (see register_limiter for the per-request check).
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
