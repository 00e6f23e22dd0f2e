cordon {
  policy_paths = ["rego", "../outside"]
}
