# Scenario tests are not configuration: this file must not be loaded.
this is not HCL {{{
