"""Tests of the inbound rules, the verdict table, bounce parsing and rate limits."""
