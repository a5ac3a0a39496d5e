"""Mutual-information estimators on critic score matrices (rows: a_i, columns: b_j)."""

from cookie.losses.club import club_upper_bound
from cookie.losses.infonce import infonce_loss, infonce_lower_bound

__all__ = ["club_upper_bound", "infonce_loss", "infonce_lower_bound"]
