"""Result-store resolution (to be filled by the backends work)."""
