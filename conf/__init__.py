"""The config tree as the package `ecosys.conf` (ecosys/conf links here), so Hydra finds
it as `pkg://ecosys.conf` from a checkout and from an installed wheel alike."""
