package fixture.compile_error_test

test_unsafe if {
	count(unbound) > 1
}
