"""Offline payments that cannot bounce: reserves, the payments merchants' counters relay, disaster mode."""
