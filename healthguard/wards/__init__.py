"""Wards, their beds and who lies in them: the ward bed board."""
