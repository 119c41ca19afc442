"""The gRPC streaming transcription service."""
