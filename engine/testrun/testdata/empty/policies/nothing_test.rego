# A test package without tests yet.
package fixture.nothing_test
