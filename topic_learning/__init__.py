"""Offline multimodal topic learning: data sets, representations, and topics for videos."""
