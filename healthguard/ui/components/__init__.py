"""Small components named after what they show."""
