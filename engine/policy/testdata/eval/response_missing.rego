package response.missing

other := 1
