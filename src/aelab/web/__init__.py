"""`aelab serve`: a local web page to look at runs, explore latent spaces and search an index (the web extra:
Starlette, uvicorn, Plotly's bundle; the page needs no internet)."""
