"""The seller's account pages: sign-in, API integrations (tokens), the token decoder, news for operators."""
