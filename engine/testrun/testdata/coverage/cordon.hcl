# A configuration whose only policy has a known coverage by its tests.
cordon {
  policy_paths = ["policies"]
}
