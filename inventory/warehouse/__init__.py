"""The warehouse feed: what Une Femme's warehouse says each partner holds, by CSV upload
(previewed, then confirmed) or by the warehouse system's JSON API."""
