"""Saved account info (S-9): organization and contacts that prefill applications."""

from fastapi import APIRouter

router = APIRouter()
