"""The control plane's state and services: the stores of keys, teams, stored models,
overrides and the audit trail, the vault that seals stored credentials, the rules an
override must keep, and the sync that carries changes to every process."""
